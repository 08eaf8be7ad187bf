"""The ``imgen`` command: run the mesh or one service, generate images, manage dev credentials.

imgen up                      start the whole mesh on loopback until Ctrl-C
imgen demo "<prompt>"         start the mesh, generate one image, save it, stop
imgen serve <service>         run one service (what a Kubernetes pod runs)
imgen generate "<prompt>"     submit to a running gateway, show progress, save the image
imgen certs init              create a development C2PA certificate chain
imgen keys create|list|enable|disable|rotate|delete
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

SERVICES = ("prompt", "inference", "compliance", "provenance", "storage", "gateway")
METRICS_BASE_PORT = 9460


def _module_for(service: str) -> Any:
    return importlib.import_module("gateway.main" if service == "gateway" else f"services.{service}.main")


def cmd_serve(args: argparse.Namespace) -> int:
    """Run one service in the foreground with its settings from IMGEN_* and the YAML file."""
    module = _module_for(args.service)
    settings = module.Settings()
    # A service may name its own event loop (the gateway runs on uvloop).
    with asyncio.Runner(loop_factory=getattr(module, "loop_factory", None)) as runner:
        runner.run(module.serve(settings))
    return 0


def _data_dir(args: argparse.Namespace) -> Path:
    if getattr(args, "data_dir", None):
        return Path(args.data_dir).expanduser().resolve()
    from services.shared.settings import ServiceSettings

    return Path(ServiceSettings().data_dir).expanduser().resolve()


def _mesh_config(args: argparse.Namespace, ephemeral: bool) -> Any:
    from imgen.mesh import MeshConfig

    data_dir = _data_dir(args)
    if ephemeral:
        config = MeshConfig.ephemeral(data_dir)
    else:
        config = MeshConfig.from_settings(
            data_dir, gateway_port=args.port, log_dir=None if args.logs else data_dir / "logs"
        )
        if not args.no_metrics:
            config.metrics_ports = {
                name: METRICS_BASE_PORT + i for i, name in enumerate(SERVICES) if name != "gateway"
            }
    return config


def _wait_for_interrupt() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def cmd_up(args: argparse.Namespace) -> int:
    """Start every service in its own process, print where to reach it, stop on Ctrl-C."""
    from gateway.admin.password import ensure_admin_password
    from imgen.mesh import Mesh, MeshError

    config = _mesh_config(args, ephemeral=False)
    mesh = Mesh(config)
    print(f"starting the mesh (data in {config.data_dir}) ...", flush=True)
    try:
        mesh.start()
        mesh.wait_ready(args.timeout)
        key = mesh.ensure_api_key()
        admin_password = ensure_admin_password(config.data_dir)
    except MeshError as exc:
        print(f"error: {exc}", file=sys.stderr)
        mesh.stop()
        return 1
    except KeyboardInterrupt:
        print("interrupted; stopping ...", file=sys.stderr)
        mesh.stop()
        return 130
    print(f"\nimgen is up\n  API:     {mesh.api_url}\n  API key: {key}")
    print(f"  admin:   {mesh.base_url}/admin  (password: {admin_password})")
    if config.log_dir:
        print(f"  logs:    {config.log_dir}")
    print(
        f'\ntry:\n  imgen generate "@aya black dress, warm lighting" --url {mesh.api_url} --key {key}\n'
        "\nCtrl-C stops everything.",
        flush=True,
    )
    try:
        _wait_for_interrupt()
    finally:
        print("stopping ...", flush=True)
        mesh.stop()
    return 0


def _print_progress(state: dict[str, Any]) -> None:
    status = state.get("status", "?")
    detail = ""
    if status == "IN_QUEUE" and "queue_position" in state:
        detail = f" (position {state['queue_position']})"
    elif status == "IN_PROGRESS" and state.get("total_steps"):
        detail = f" (step {state.get('step', 0)}/{state['total_steps']})"
    print(f"  {status}{detail}", flush=True)


def _generate_and_save(api_url: str, key: str, args: argparse.Namespace) -> int:
    from imgen.client import ApiError, ImgenClient, PollPolicy

    fields: dict[str, Any] = {
        "model": args.model,
        "style": args.style,
        "format": args.format,
        "optimize": args.optimize,
    }
    if args.width and args.height:
        fields.update(width=args.width, height=args.height)
    if args.seed is not None:
        fields["seed"] = args.seed
    with ImgenClient(api_url, key) as client:
        try:
            job = client.submit(args.prompt, **fields)
            print(f"job {job['id']} (gen_id {job['gen_id']}) queued: {job['prompt']}", flush=True)
            meta = client.wait(job, PollPolicy(interval_s=args.interval), on_poll=_print_progress)
        except ApiError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        signed = next(image for image in meta["images"] if image["type"] == "signed")
        out_dir = Path(args.out).expanduser()
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / signed["filename"]
        target.write_bytes(client.download(signed["url"]))
    size = f"{meta['width']}x{meta['height']}"
    print(f"saved {target} ({size} {meta['format']}, fingerprint {meta['fingerprint']})")
    print(f"URL: {signed['url']}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    """Submit a prompt to a running gateway, show progress while polling, save the image."""
    key = args.key or os.environ.get("IMGEN_API_KEY", "")
    if not key:
        from gateway.local_key import read_local_key

        key = read_local_key(_data_dir(args)) or ""
    if not key:
        print("error: no API key (use --key, IMGEN_API_KEY, or run `imgen up` first)", file=sys.stderr)
        return 2
    return _generate_and_save(args.url, key, args)


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job in one command: mesh up, one image generated through the API and saved, mesh down."""
    from imgen.mesh import MeshError, running_mesh

    config = _mesh_config(args, ephemeral=True)
    print(
        f"starting the mesh on free ports (data in {config.data_dir}, logs in {config.log_dir}) ...",
        flush=True,
    )
    try:
        with running_mesh(config, timeout=args.timeout) as mesh:
            print(f"mesh ready at {mesh.api_url}", flush=True)
            return _generate_and_save(mesh.api_url, mesh.api_key, args)
    except MeshError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def cmd_certs_init(args: argparse.Namespace) -> int:
    """Create a development C2PA chain (root, intermediate, leaf) that c2pa accepts."""
    from services.provenance.certs import init_dev_chain

    directory = Path(args.dir).expanduser() if args.dir else _data_dir(args) / "provenance" / "certs"
    paths = init_dev_chain(directory, force=args.force)
    print(f"chain:        {paths.chain}\nsigning key:  {paths.key}\ntrust anchor: {paths.root}")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    """Manage API keys in the gateway's key store."""
    from gateway.keys_cli import run_keys_command

    return run_keys_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imgen", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add_data_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", help="state directory (default: IMGEN_DATA_DIR or ~/.local/share/imgen)")

    def add_generation(p: argparse.ArgumentParser) -> None:
        p.add_argument("prompt", help='raw prompt, e.g. "@aya black dress, warm lighting, -red"')
        p.add_argument("--model", default="eros")
        p.add_argument("--style", default="")
        p.add_argument("--format", default="jpeg", choices=["jpeg", "png", "webp", "avif"])
        p.add_argument("--width", type=int, default=0)
        p.add_argument("--height", type=int, default=0)
        p.add_argument("--seed", type=int, default=None)
        p.add_argument("--optimize", action="store_true", help="enhance the prompt before generating")
        p.add_argument("--out", default="imgen-output", help="folder the image is saved in")
        p.add_argument("--interval", type=float, default=1.0, help="seconds between status polls")

    p_up = sub.add_parser("up", help="start the whole mesh on loopback")
    add_data_dir(p_up)
    p_up.add_argument("--port", type=int, default=0, help="gateway port (default 8470)")
    p_up.add_argument("--logs", action="store_true", help="print service logs here instead of log files")
    p_up.add_argument("--no-metrics", action="store_true", help="do not open Prometheus ports")
    p_up.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for readiness")
    p_up.set_defaults(func=cmd_up)

    p_demo = sub.add_parser("demo", help="start the mesh, generate one image, save it, stop")
    add_data_dir(p_demo)
    add_generation(p_demo)
    p_demo.add_argument("--timeout", type=float, default=300.0)
    p_demo.set_defaults(func=cmd_demo)

    p_serve = sub.add_parser("serve", help="run one service")
    p_serve.add_argument("service", choices=SERVICES)
    p_serve.set_defaults(func=cmd_serve)

    p_gen = sub.add_parser("generate", help="generate an image through a running gateway")
    add_data_dir(p_gen)
    add_generation(p_gen)
    p_gen.add_argument("--url", default=os.environ.get("IMGEN_API_URL", "http://127.0.0.1:8470/api/v2"))
    p_gen.add_argument("--key", default="", help="API key (default: IMGEN_API_KEY, else the local one)")
    p_gen.set_defaults(func=cmd_generate)

    p_certs = sub.add_parser("certs", help="C2PA certificates")
    certs_sub = p_certs.add_subparsers(dest="certs_command", required=True)
    p_init = certs_sub.add_parser("init", help="create a development certificate chain")
    add_data_dir(p_init)
    p_init.add_argument("--dir", help="output folder (default: <data dir>/provenance/certs)")
    p_init.add_argument("--force", action="store_true", help="replace an existing chain")
    p_init.set_defaults(func=cmd_certs_init)

    p_keys = sub.add_parser("keys", help="manage API keys")
    add_data_dir(p_keys)
    keys_sub = p_keys.add_subparsers(dest="keys_command", required=True)
    k_create = keys_sub.add_parser("create", help="create a key and print it once")
    k_create.add_argument("name")
    k_create.add_argument("--expires", default="", help="expiry, ISO date or time (UTC unless given)")
    k_create.add_argument("--rate-limit", type=int, default=None, help="requests per minute for this key")
    keys_sub.add_parser("list", help="list keys with their counts")
    for verb in ("enable", "disable", "rotate", "delete"):
        k = keys_sub.add_parser(verb, help=f"{verb} a key by id or prefix")
        k.add_argument("key_id")
    p_keys.set_defaults(func=cmd_keys)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
