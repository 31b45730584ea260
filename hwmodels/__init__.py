"""Hardware models: what the hardware is (devices, links, radios), units and cost formulas.

Imports nothing else of ddlsim, so it can be used on its own.
"""

from .catalog import Catalog, load_catalog
from .cost import ENERGY_KINDS, Cost
from .device import CODEC_EFFICIENCY, DTYPE_BYTES, DTYPES, Device
from .errors import SpecError
from .link import LinkSpec
from .radio import Radio
from .units import fmt, parse
from .work import Work

__all__ = ["CODEC_EFFICIENCY", "Catalog", "Cost", "DTYPE_BYTES", "DTYPES", "Device", "ENERGY_KINDS", "LinkSpec", "Radio",
           "SpecError", "Work", "fmt", "load_catalog", "parse"]
