//! hcal-actors
