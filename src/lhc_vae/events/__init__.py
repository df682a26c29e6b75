"""Events: the Dark Machines format, the event/object tables, the selection and the model features."""
