"""Envoy's HTTP and network filters that decide before the router or tcp_proxy: RBAC, JWT, fault, ext_authz, …"""
