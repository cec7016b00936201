"""The canvas tools, one module each: a tool turns the canvas's image-space gestures into
controller requests (one finished gesture, one undo step) and draws its own draft.

``TOOLS`` maps a tool's name (the toolbar's, the shortcut's) to its class; the canvas makes one of
each and sends the gestures to the active one.
"""

from .base import CanvasTool
from .box import BoxTool
from .brush import BrushTool, EraserTool
from .click import ClickTool
from .polygon import PolygonTool
from .scissors import ScissorsTool
from .select import SelectTool
from .vertex import VertexTool

TOOLS: dict[str, type[CanvasTool]] = {
    "select": SelectTool,
    "polygon": PolygonTool,
    "scissors": ScissorsTool,
    "brush": BrushTool,
    "eraser": EraserTool,
    "box": BoxTool,
    "vertex": VertexTool,
    "click": ClickTool,
}

__all__ = ["TOOLS", "CanvasTool"]
