//! Sync engine between Twenty CRM and a system of record, generic over SourceOfTruth, StateStore and SecretProvider.
