-- The per-field hashes of the values both sides last agreed on (`RecordState::field_hashes`),
-- written by sync runs for their three-way merge of records changed on both sides. States written
-- before this migration have none: their next conflict is settled field by field by the policy, as
-- before, and the sync that settles it stores the hashes. A nullable column without a default:
-- adding it rewrites nothing.
ALTER TABLE {{schema}}.record_state ADD COLUMN field_hashes text;
