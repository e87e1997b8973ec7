"""desktopviz: Calico Enterprise-style network visibility and policy troubleshooting on the desktop."""

__version__ = "0.1.0"
