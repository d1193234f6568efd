# credential-vault: the only writer of marketplace credentials.
# KV v2 mount `kervan`; one secret per store at marketplace-credentials/<store_id>.

# Write new versions and read the current one.
path "kervan/data/marketplace-credentials/*" {
  capabilities = ["create", "update", "read"]
}

# Delete a store's credentials for good: every version and the metadata.
path "kervan/metadata/marketplace-credentials/*" {
  capabilities = ["read", "delete"]
}

# Readiness probe (sys/health needs no token; listed for clarity of intent).
path "sys/health" {
  capabilities = ["read"]
}
