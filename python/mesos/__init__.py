# The mesos package: Mesos's Python API on cmesos (see docs/frameworks.md).
# A namespace-style package as Mesos's was, so other distributions may add mesos.* modules.
__path__ = __import__('pkgutil').extend_path(__path__, __name__)
