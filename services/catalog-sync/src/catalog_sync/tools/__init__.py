"""Demo and test tools shipped with catalog-sync: the catalogue publisher and a reference
inventory that plays the platform (the seller's ERP). Neither is part of the running service."""
