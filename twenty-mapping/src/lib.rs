//! Declarative, compiled field mapping and normalisation between local records and Twenty objects.
