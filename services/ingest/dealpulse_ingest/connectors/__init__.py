"""CRM connectors: each turns its provider's webhook dialect into ``GenericDealChange`` input, purely.

The parsers and verifiers here never touch the network or the database, so they are unit-testable and
fuzzable; ``dealpulse_ingest.crm_routes`` does the I/O (tenant lookup, storing, publishing, dead letters).
"""
