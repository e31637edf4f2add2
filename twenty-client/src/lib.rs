//! Typed async client for the Twenty CRM REST API: records, metadata, webhooks, rate limiting.
