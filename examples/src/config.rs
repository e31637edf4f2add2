//! The `twenty-sync` configuration file.
