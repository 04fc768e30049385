"""Bindings across processes over NATS and JetStream (``transport: nats``, docs/distributed.md).

One module per idea:

- ``connection``: the one NATS connection of a system, its state and its outages;
- ``subjects``: the subjects, JetStream streams, consumers and keys a binding uses;
- ``errors``: NATS client exceptions translated into autocoder's, at one boundary;
- ``requests``: ``request`` as NATS request/reply, and the receiving side's queue-group responder;
- ``sends``: ``send`` as a JetStream publish with a message id, and the streams behind it;
- ``leases``: which process owns which lane, by leases in a JetStream key-value bucket;
- ``lanes``: a lane's pull consumer, fetching batches and acknowledging after processing;
- ``binding``: the sender object components send through, and the whole transport of a system.

The receiving side feeds a component's ordinary receive stream, so the default worker loop
serves nats bindings exactly as it serves memory ones.
"""
