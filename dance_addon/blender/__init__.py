"""Everything that touches bpy. One place registers the classes of every UI module."""
from __future__ import annotations

import bpy

from . import operators, panel, preferences, properties

_MODULES = (preferences, properties, operators, panel)


def _classes():
    for module in _MODULES:
        yield from module.CLASSES


def register():
    for cls in _classes():
        bpy.utils.register_class(cls)
    properties.register_properties()


def unregister():
    properties.unregister_properties()
    for cls in reversed(tuple(_classes())):
        bpy.utils.unregister_class(cls)
