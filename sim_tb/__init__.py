"""cocotb benches of the Verilog that ``gen`` emits, run from pytest (see ``sim_tb/runner.py``)."""
