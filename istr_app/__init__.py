"""ISTR Studio GUI: review and correct model pre-labels, save COCO, fine-tune, repeat.

Qt-free modules (document, commands, coco_io, autosave, geometry) hold the data and the edits;
Qt modules (controller, workers, widgets, main_window) only display them and route requests.
"""
