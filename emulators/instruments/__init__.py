"""One module per emulated instrument (sqm.emulators.registry names which answers for which driver)."""
