"""ISTR Studio GUI: review and correct model pre-labels, save COCO, fine-tune, repeat.

core/ (Qt-free: document, edits, project_io, autosave, geometry) holds the data and the edits; the
controller is their only writer; services/ (workers, jobs, online loop, click session) compute in the
background; ui/ (main window, widgets, one module per canvas tool) only displays and routes requests.
"""
