"""``envoyscope verify``: ask a real Envoy whether envoyscope's trace is right.

Each hop of a trace is replayed on its own: the proxy's captured config is turned into a form a local Envoy can
load (`replay_form`), that Envoy is started on loopback (`envoy`), and the hop's incoming connection is sent to it
(`send`); Envoy's access logs say which listener, filter chain, virtual host, route and cluster it chose, and
`compare` sets them beside envoyscope's. Nothing leaves loopback: every upstream is a closed loopback port.
"""
