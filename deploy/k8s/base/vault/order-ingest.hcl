# order-ingest: reads marketplace credentials, never writes, lists or deletes them.
# KV v2 mount `kervan`; one secret per store at marketplace-credentials/<store_id>.
path "kervan/data/marketplace-credentials/*" {
  capabilities = ["read"]
}
