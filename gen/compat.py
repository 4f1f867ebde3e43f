"""Every private Amaranth interface the generator uses, in one place.

Amaranth 0.5 has no public way to do either of these:

- leave a memory's all-zero initial contents out of the netlist
  (:func:`no_zero_memory_init`, which wraps ``amaranth.back.rtlil.ModuleEmitter.emit_memory``
  and reads the netlist memory's ``init``);
- name the device and package options of nextpnr for a platform
  (:func:`nextpnr_device_options`, from the tables ``_nextpnr_device_options`` and
  ``_nextpnr_package_options`` that Amaranth's own build scripts read), which ``gen.build``
  needs because it runs each step of the flow itself, to time it and log it.

:data:`PRIVATE_INTERFACES` lists them, and :func:`missing_interfaces` says which of them the
installed Amaranth no longer has (``tests/test_compat.py`` fails naming them).
"""

import contextlib
import importlib
import inspect

from amaranth.back import rtlil


__all__ = ["PRIVATE_INTERFACES", "missing_interfaces", "no_zero_memory_init",
           "nextpnr_device_options"]


#: ``(module, attribute path, signature)`` of each private interface used here: the
#: signature a callable has in the Amaranth this was written for, or ``None`` for a table.
PRIVATE_INTERFACES = (
    ("amaranth.back.rtlil", "ModuleEmitter.emit_memory", "(self, cell_idx, cell)"),
    # Whose ``init`` emit_memory's ``cell`` carries.
    ("amaranth.hdl._nir", "Memory.__init__",
     "(self, module_idx, *, width, depth, init, name, attributes, src_loc)"),
    ("amaranth.vendor", "LatticePlatform._nextpnr_device_options", None),
    ("amaranth.vendor", "LatticePlatform._nextpnr_package_options", None),
    ("amaranth.vendor", "SiliconBluePlatform._nextpnr_device_options", None),
    ("amaranth.vendor", "SiliconBluePlatform._nextpnr_package_options", None),
)


def missing_interfaces():
    """The entries of :data:`PRIVATE_INTERFACES` the installed Amaranth lacks, as
    ``"module.attribute: what is wrong"`` strings; empty when all are there."""
    problems = []
    for module_name, path, signature in PRIVATE_INTERFACES:
        where = f"{module_name}.{path}"
        try:
            target = importlib.import_module(module_name)
            for name in path.split("."):
                target = getattr(target, name)
        except (ImportError, AttributeError) as error:
            problems.append(f"{where}: not found ({error})")
            continue
        if signature is None:
            if not isinstance(target, dict):
                problems.append(f"{where}: a {type(target).__name__}, not a dict")
            continue
        try:
            found = str(inspect.signature(target))
        except (TypeError, ValueError) as error:
            problems.append(f"{where}: no signature ({error})")
            continue
        if found != signature:
            problems.append(f"{where}: signature is {found}, not {signature}")
    return problems


@contextlib.contextmanager
def no_zero_memory_init():
    """While active, Verilog and RTLIL conversions leave out every memory's initial contents
    when they are all zero; any other init is emitted as before.

    Amaranth 0.5 emits every memory's initial contents bit by bit, even when they are all
    zero: for the weight and activation memories of 64 PEs that is millions of constant bits
    and over ten seconds. Memories of this design are written before they are read.
    """
    emitter = rtlil.ModuleEmitter
    original = emitter.emit_memory

    def emit_memory(self, cell_idx, cell):
        if any(cell.init):
            original(self, cell_idx, cell)

    emitter.emit_memory = emit_memory
    try:
        yield
    finally:
        emitter.emit_memory = original


def nextpnr_device_options(platform):
    """The device and package arguments of nextpnr for ``platform``, as Amaranth's own build
    script passes them: ``["--85k", "--package", "CABGA381"]`` (ECP5; ``--speed`` is the
    public ``platform.speed``), ``["--up5k", "--package", "sg48"]`` (iCE40)."""
    device = platform._nextpnr_device_options[platform.device]
    if platform.family == "ecp5":
        package = platform._nextpnr_package_options[platform.package].upper()
    elif platform.family == "iCE40":
        package = (platform.package.lower() +
                   platform._nextpnr_package_options.get(platform.device, ""))
    else:
        raise ValueError(f"No nextpnr options for the {platform.family} family")
    return [device, "--package", package]
