"""The operator GUI (PyQt5 + pyqtgraph), built on the scripting API of `sqm.session`.

Empty in this first slice.
"""
