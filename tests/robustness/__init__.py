"""Issue 6: bad input, faults and security for the istr command line."""
