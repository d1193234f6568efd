# credential-vault: the only writer of marketplace credentials.
# KV v2 mount `kervan`; one secret per store at marketplace-credentials/<store_id>.

# Write new versions and read the current one.
path "kervan/data/marketplace-credentials/*" {
  capabilities = ["create", "update", "read"]
}

# Delete a deleted store's credentials for good (every version and the metadata); read the
# versions a credentials deletion destroys.
path "kervan/metadata/marketplace-credentials/*" {
  capabilities = ["read", "delete"]
}

# Delete a live store's credentials: destroy every version's data, keep the metadata, so the
# next write's version is higher than the one the deletion announced.
path "kervan/destroy/marketplace-credentials/*" {
  capabilities = ["update"]
}

# Readiness probe (sys/health needs no token; listed for clarity of intent).
path "sys/health" {
  capabilities = ["read"]
}
