"""Procedures: named, parameterised steps written once against the roles."""

from .base import Param, Procedure, Step, param
from .bias_sweep import BiasSweep
from .coarse_approach import CoarseApproach
from .field_sweep import FieldSweep
from .line_cut import LineCut
from .park import Park
from .raster_scan import RasterScan
from .set_state import SetState
from .squid import SquidInterference, SquidIV, WorkingPointSearch
from .thermal_cycle import ThermalCycle
from .touchdown import PlaneFit, Touchdown
from .transport import IVCurve, ResistanceVsTemperature
from .zero_field_cool import FieldCool, ZeroFieldCool

PROCEDURES: dict[str, type[Procedure]] = {
    cls.name: cls
    for cls in (
        ZeroFieldCool,
        FieldCool,
        SetState,
        Park,
        CoarseApproach,
        Touchdown,
        PlaneFit,
        BiasSweep,
        ThermalCycle,
        RasterScan,
        LineCut,
        FieldSweep,
        IVCurve,
        ResistanceVsTemperature,
        SquidIV,
        SquidInterference,
        WorkingPointSearch,
    )
}

__all__ = ["PROCEDURES", "Param", "Procedure", "Step", "param"]
