"""The `make run` demo and its simulated game servers: an edge of the package, driving the service through
``multiverse.client`` as a real deployment would (the domain never imports it).

``run`` (the demo's steps), ``sim`` (a simulated game server: tileworld bots that play and save), ``market``
(claim and buy a rare vector), ``previews`` (latent frames drawn as PNG by a space's registered decoder).
"""

from multiverse.demo.run import DemoConfig, DemoReport, run_demo, start_demo

__all__ = ["DemoConfig", "DemoReport", "run_demo", "start_demo"]
