//! hcal-schemas
