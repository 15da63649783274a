"""HTTP endpoints swejax adds to a vLLM server, for a weight sync in two requests.

vLLM's own way through a weight update takes five requests (/pause, /collective_rpc,
/reset_prefix_cache, /update_weight_version, /resume), and its /pause sleeps 20 ms
after the engine is paused, for the ordering of outputs of requests that were running.
Here one request pauses (while the learner writes the weights) and one loads, resets
the prefix cache, sets the version and resumes, all inside the server
(weight_sync.DiskWeightSync uses them when /swejax/info answers):

  GET  /swejax/info    -> {"endpoints": 1}
  GET  /swejax/state   -> {"weight_version", "is_paused"}: /weight_info and /is_paused
  POST /swejax/pause   -> waits for the running requests, then holds new ones
  POST /swejax/load    {"method", "kwargs", "version"} -> the worker method's results,
                       and the state (as /swejax/state) once resumed

A failed load leaves the server paused: serving a half-loaded model, or a prefix cache
of the old weights, would be silently wrong. Enabled only with VLLM_SERVER_DEV_MODE=1,
like vLLM's own endpoints that load weights.

The server imports this file as a top-level module (launch/vllm_fleet.sh puts its
directory on PYTHONPATH and passes `--middleware swejax_endpoints.routes`): it may import
only what the server's environment has, never swejax.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from starlette.responses import JSONResponse

PREFIX = "/swejax/"
VERSION = 1


class BadRequest(ValueError):
  pass


async def _pause(engine: Any) -> None:
  core = getattr(engine, "engine_core", None)
  if core is not None and hasattr(core, "pause_scheduler_async"):
    # What /pause?mode=wait does, without its 20 ms sleep for output ordering: no request
    # of ours runs while a sync does.
    await core.pause_scheduler_async(mode="wait", clear_cache=False)
  else:
    await engine.pause_generation(mode="wait", clear_cache=False)


async def info(engine: Any, body: dict) -> dict:
  del engine, body
  return {"endpoints": VERSION}


async def state(engine: Any, body: dict) -> dict:
  del body
  return {"weight_version": await engine.get_weight_version(),
          "is_paused": await engine.is_paused()}


async def pause(engine: Any, body: dict) -> dict:
  del body
  t0 = time.perf_counter()
  await _pause(engine)
  return {"pause_seconds": time.perf_counter() - t0}


async def load(engine: Any, body: dict) -> dict:
  for key in ("method", "kwargs", "version"):
    if key not in body:
      raise BadRequest(f"needs '{key}' in its JSON body")
  if not isinstance(body["kwargs"], dict):
    raise BadRequest("'kwargs' must be a JSON object")
  t0 = time.perf_counter()
  if not await engine.is_paused():
    await _pause(engine)
  t1 = time.perf_counter()
  results = await engine.collective_rpc(str(body["method"]), kwargs=body["kwargs"])
  t2 = time.perf_counter()
  for _ in range(int(body.get("reset_tries", 20))):
    if await engine.reset_prefix_cache():
      break
    await asyncio.sleep(0.05)
  else:
    raise RuntimeError("the prefix cache could not be reset after the weight load; the "
                       "server stays paused")
  await engine.update_weight_version(str(body["version"]))
  await engine.resume_generation()
  t3 = time.perf_counter()
  return {"results": list(results or []), "pause_seconds": t1 - t0, "rpc_seconds": t2 - t1,
          "finish_seconds": t3 - t2, **await state(engine, {})}


_ROUTES = {("GET", PREFIX + "info"): info, ("GET", PREFIX + "state"): state,
           ("POST", PREFIX + "pause"): pause,
           ("POST", PREFIX + "load"): load}


async def routes(request, call_next):
  """The middleware (a function, which vLLM adds with `app.middleware("http")`)."""
  path = request.url.path
  if not path.startswith(PREFIX):
    return await call_next(request)
  if os.environ.get("VLLM_SERVER_DEV_MODE") != "1":
    return JSONResponse({"error": "swejax's endpoints need VLLM_SERVER_DEV_MODE=1"}, 404)
  handler = _ROUTES.get((request.method, path))
  if handler is None:
    return JSONResponse({"error": f"no route {request.method} {path}"}, 404)
  try:
    raw = await request.body()
    body = json.loads(raw) if raw else {}
    if not isinstance(body, dict):
      raise BadRequest("the body must be a JSON object")
  except (ValueError, UnicodeDecodeError) as e:
    return JSONResponse({"error": f"{path}: {e}"}, 400)
  try:
    return JSONResponse(await handler(request.app.state.engine_client, body))
  except BadRequest as e:
    return JSONResponse({"error": f"{path}: {e}"}, 400)
  except Exception as e:  # pylint: disable=broad-except
    return JSONResponse({"error": f"{path}: {type(e).__name__}: {e}"}, 500)
