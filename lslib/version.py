"""The package version, in a leaf module (``cache`` records it without importing the
package's top)."""

__version__ = "0.1.0"
