"""The operator GUI (PyQt5 + pyqtgraph), built on the scripting API of `sqm.session`.

Modules, one job each:

- `app`: `main(station_path) -> int`, the `sqm gui` entry point.
- `main_window`: the window; wires the panels, the views and the run controller.
- `event_bridge`: carries runner events and background results from worker threads
  into the GUI thread through Qt queued signals.
- `run_controller`: starts, pauses, resumes and aborts runs (the queue of procedure files).
- `station_panel`: live station readings, interlock state and "Safe state now".
- `procedure_panel`: procedure file, steps (the running one highlighted), parameter
  form, the procedure reference, check, queue, run buttons.
- `parameter_form`: one line edit per procedure parameter, text with units.
- `live_views`: sweep curves, the filling image, current density, probe loops.
- `run_progress`: the running step's lines or points done and its time left.
- `run_browser`: the output folder's run files, the steps of one, plotted on selection.
- `branches`: a sweep's branches named virgin / down / up.
- `plot_widgets`: the reusable pyqtgraph widgets (curves by branch, diverging image).
"""
