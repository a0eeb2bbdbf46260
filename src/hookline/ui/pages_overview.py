"""The operator's overview."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from hookline.ui.render import render
from hookline.ui.session import operator
from hookline.ui.viewer import Viewer

router = APIRouter()


@router.get("/")
async def overview(request: Request, viewer: Annotated[Viewer, Depends(operator)]) -> Response:
    return render(request, "overview.html", viewer, title="Overview", nav="overview")
