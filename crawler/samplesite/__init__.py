"""The sample site: a local imitation of the eastmoney endpoints, serving the bundled samples."""

from .data import SampleArticle, load_bundled, synthetic
from .server import FAULTS, ROUTES, Hit, SampleSite

__all__ = ["FAULTS", "ROUTES", "Hit", "SampleArticle", "SampleSite", "load_bundled", "synthetic"]
