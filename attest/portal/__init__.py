"""The customer portal (`attest serve`): tenants fetch and verify their own attestations, sales
share them for tenders, anyone verifies a document — over the same evidence log and document
store as the command line, and no customer ever sees another's.

Modules, one job each: ``models`` (its tables), ``context`` (what every request handler gets),
``app`` (the FastAPI application and its security headers), ``auth`` (accounts, passwords,
sessions, CSRF, login limits), ``documents`` (a tenant's documents and downloads), ``verification``
(the public verification page and JSON endpoint), ``shares`` (share links and recipient stamps),
``stamp`` (the PDF recipient stamp), ``api`` (the token-authenticated JSON API), ``audit`` (the
audit trail, sealed into the evidence log), ``admin`` (the provider's pages).
"""
