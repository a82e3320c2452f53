"""The graph as drawn: the layered layout, the module and loop groups, the page's view
layouts, and the still picture."""
