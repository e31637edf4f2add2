-- The fencing token becomes a key column: commits share-lock their lease's row FOR KEY SHARE,
-- which a renewal or a release (they leave the token as it is) does not wait for, while a
-- takeover (it gives the scope a new token: a key update) waits for the commits in flight under
-- the old token, whose fence it then fails. `scope` alone is the primary key, so the index holds
-- nothing new; it only marks `token` as part of a key.
CREATE UNIQUE INDEX leases_scope_token ON {{schema}}.leases (scope, token);
