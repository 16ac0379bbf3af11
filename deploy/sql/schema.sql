-- proxyauthd: credentials in PostgreSQL, managed with SQL (SPEC section 4).
--
-- Apply as a superuser (or as the database owner holding CREATEROLE) in the
-- database proxyauthd reads:
--
--     psql -v ON_ERROR_STOP=1 -d proxyauth -f deploy/sql/schema.sql
--
-- Idempotent: applying it again changes nothing and raises nothing (not
-- even a notice), and keeps every user, group and audit row.
--
-- What it makes, in schema proxyauth:
--   users, groups, memberships   the credentials (created_at, updated_at)
--   audit                        one row per admin function call: when,
--                                session_user (the real login, also inside
--                                the SECURITY DEFINER functions), action,
--                                target user, detail
--   credentials (view)           what proxyauthd reads: username,
--                                password_hash, disabled, expires_at,
--                                groups text[]
--   add_user, set_password, disable_user, enable_user, delete_user,
--   set_expiry, grant_group, revoke_group, list_users (admin functions)
-- Roles (NOLOGIN, cluster-wide; made only when missing):
--   proxyauth_admin   may execute the admin functions, nothing else: it
--                     cannot read a table, the view or a password hash
--   proxyauth_reader  may select the view, nothing else
-- Grant them to login roles: GRANT proxyauth_reader TO proxyauthd_login;
--
-- Passwords are hashed inside the database with pgcrypto
-- (crypt(password, gen_salt('bf', 12)), which proxyauthd verifies through
-- libxcrypt) and never stored, logged or written to the audit in clear.
-- Every change to users, groups or memberships, by these functions or by
-- direct table edits, sends NOTIFY proxyauth_changed with the user name as
-- payload (an empty payload after TRUNCATE: proxyauthd then drops every
-- answer it cached from PostgreSQL).

SET client_min_messages = warning;
BEGIN;

DO $roles$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'proxyauth_admin') THEN
		CREATE ROLE proxyauth_admin NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'proxyauth_reader') THEN
		CREATE ROLE proxyauth_reader NOLOGIN;
	END IF;
END
$roles$;

CREATE SCHEMA IF NOT EXISTS proxyauth;
REVOKE ALL ON SCHEMA proxyauth FROM PUBLIC;
GRANT USAGE ON SCHEMA proxyauth TO proxyauth_admin, proxyauth_reader;

-- pgcrypto goes into a schema of its own that nobody else may use, unless
-- the database has it already somewhere (an extension lives in one schema
-- per database); the hash helper below names whichever schema holds it.
CREATE SCHEMA IF NOT EXISTS proxyauth_crypto;
REVOKE ALL ON SCHEMA proxyauth_crypto FROM PUBLIC;
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA proxyauth_crypto;

CREATE TABLE IF NOT EXISTS proxyauth.users (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	username	text NOT NULL UNIQUE,
	password_hash	text NOT NULL,
	disabled	boolean NOT NULL DEFAULT false,
	expires_at	timestamptz,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	-- What a Basic credential can carry: not empty, at most 256 bytes,
	-- no ':' (it ends the user name) and no control characters.
	CONSTRAINT users_username_valid CHECK (
		username <> '' AND pg_catalog.octet_length(username) <= 256 AND
		pg_catalog.strpos(username, ':') = 0 AND username !~ '[[:cntrl:]]')
);
-- No blank at either end: every proxy strips those from X-Auth-User, so
-- 'alice ' would reach the application as alice.  A constraint of its own,
-- added to tables made before it; rows that break it stay (NOT VALID, with
-- a warning) and proxyauthd refuses them.
DO $edges$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_constraint
		       WHERE conrelid = 'proxyauth.users'::pg_catalog.regclass
		       AND conname = 'users_username_no_edge_blank') THEN
		IF EXISTS (SELECT FROM proxyauth.users
			   WHERE username <> pg_catalog.btrim(username, ' ')) THEN
			ALTER TABLE proxyauth.users ADD CONSTRAINT users_username_no_edge_blank
				CHECK (username = pg_catalog.btrim(username, ' ')) NOT VALID;
			RAISE WARNING 'proxyauth: user names with a blank at either end exist; '
				'proxyauthd refuses them: rename them';
		ELSE
			ALTER TABLE proxyauth.users ADD CONSTRAINT users_username_no_edge_blank
				CHECK (username = pg_catalog.btrim(username, ' '));
		END IF;
	END IF;
END
$edges$;
-- 'Alice' and 'alice' would share one lockout count: one user, not two.
-- So would 'JÖRG' and 'jörg', a decomposed 'jörg', fullwidth 'ａｌｉｃｅ' and
-- 'john  smith': the lockout folds names with Unicode NFKC and full case
-- folding and makes runs of blanks one (lib/fold.h), and an application
-- comparing names loosely would take them for one.  lower() alone folds
-- only ASCII in a database of locale C, so the key is made with ICU's
-- root locale when the server has it (upper first: 'ß' becomes 'SS'),
-- and normalised to NFKC in a UTF8 database (which makes a no-break
-- space a blank, trimmed as the lockout trims it).  Changing this key
-- later needs REINDEX INDEX proxyauth.users_username_folded.
DO $key$
DECLARE
	e text := 'p';
BEGIN
	IF pg_catalog.getdatabaseencoding() = 'UTF8' THEN
		e := 'pg_catalog.normalize(p, ''NFKC'')';
	END IF;
	e := pg_catalog.format('pg_catalog.btrim(pg_catalog.regexp_replace(%s, '' {2,}'', '' '', '
			       '''g''), '' '')', e);
	IF EXISTS (SELECT FROM pg_catalog.pg_collation WHERE collname = 'und-x-icu') THEN
		e := e || ' COLLATE pg_catalog."und-x-icu"';
	END IF;
	EXECUTE pg_catalog.format($f$
		CREATE OR REPLACE FUNCTION proxyauth.name_key(p text)
		RETURNS text LANGUAGE sql IMMUTABLE STRICT
		SET search_path = pg_catalog, pg_temp
		AS %L
	$f$, pg_catalog.format('SELECT pg_catalog.lower(pg_catalog.upper(%s))', e));
END
$key$;
DO $uniq$
BEGIN
	IF pg_catalog.to_regclass('proxyauth.users_username_folded') IS NULL THEN
		BEGIN
			CREATE UNIQUE INDEX users_username_folded
				ON proxyauth.users (proxyauth.name_key(username));
		EXCEPTION WHEN unique_violation THEN
			RAISE WARNING 'proxyauth: some user names differ only in case, Unicode '
				'form or blanks; rename one of each such pair and apply the schema again';
		END;
	END IF;
	IF pg_catalog.to_regclass('proxyauth.users_username_folded') IS NOT NULL THEN
		DROP INDEX IF EXISTS proxyauth.users_username_lower;
	ELSIF pg_catalog.to_regclass('proxyauth.users_username_lower') IS NULL THEN
		CREATE UNIQUE INDEX users_username_lower ON proxyauth.users (pg_catalog.lower(username));
	END IF;
END
$uniq$;

CREATE TABLE IF NOT EXISTS proxyauth.groups (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name		text NOT NULL UNIQUE,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	-- X-Auth-Groups is a comma list: no commas, no control characters,
	-- no surrounding blanks.
	CONSTRAINT groups_name_valid CHECK (
		name <> '' AND pg_catalog.octet_length(name) <= 256 AND
		pg_catalog.strpos(name, ',') = 0 AND name !~ '[[:cntrl:]]' AND
		name = pg_catalog.btrim(name))
);

CREATE TABLE IF NOT EXISTS proxyauth.memberships (
	user_id		bigint NOT NULL REFERENCES proxyauth.users (id) ON DELETE CASCADE,
	group_id	bigint NOT NULL REFERENCES proxyauth.groups (id) ON DELETE CASCADE,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (user_id, group_id)
);
CREATE INDEX IF NOT EXISTS memberships_group ON proxyauth.memberships (group_id);

CREATE TABLE IF NOT EXISTS proxyauth.audit (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at			timestamptz NOT NULL DEFAULT pg_catalog.now(),
	session_user_name	text NOT NULL DEFAULT SESSION_USER,
	action			text NOT NULL,
	target_user		text NOT NULL,
	detail			text
);

REVOKE ALL ON ALL TABLES IN SCHEMA proxyauth FROM PUBLIC, proxyauth_admin, proxyauth_reader;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA proxyauth FROM PUBLIC, proxyauth_admin, proxyauth_reader;

-- The view runs with its owner's rights, so the reader needs no right on
-- the tables behind it.
CREATE OR REPLACE VIEW proxyauth.credentials AS
	SELECT u.username, u.password_hash, u.disabled, u.expires_at,
	       ARRAY(SELECT g.name FROM proxyauth.memberships m
			JOIN proxyauth.groups g ON g.id = m.group_id
			WHERE m.user_id = u.id ORDER BY g.name) AS groups
	FROM proxyauth.users u;
REVOKE ALL ON proxyauth.credentials FROM PUBLIC, proxyauth_admin;
GRANT SELECT ON proxyauth.credentials TO proxyauth_reader;

-- ---- helpers (no one but the owner may call them) ------------------------

-- The bcrypt hash of a password, cost 12.  Made with dynamic SQL only to
-- name the schema that holds pgcrypto; the body takes no outside text.
DO $hash$
DECLARE
	s text;
BEGIN
	SELECT n.nspname INTO STRICT s FROM pg_catalog.pg_extension e
		JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
		WHERE e.extname = 'pgcrypto';
	EXECUTE pg_catalog.format($f$
		CREATE OR REPLACE FUNCTION proxyauth.hash_password(p_password text)
		RETURNS text LANGUAGE sql VOLATILE STRICT
		SET search_path = pg_catalog, pg_temp
		AS 'SELECT %1$I.crypt(p_password, %1$I.gen_salt(''bf'', 12))'
	$f$, s);
END
$hash$;

-- Raises unless password is one a client could send and bcrypt takes whole.
CREATE OR REPLACE FUNCTION proxyauth.check_password(p_password text)
RETURNS void LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_password IS NULL OR p_password = '' THEN
		RAISE EXCEPTION 'proxyauth: the password is empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF octet_length(p_password) > 72 THEN
		RAISE EXCEPTION 'proxyauth: the password is longer than 72 bytes, which bcrypt would cut'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF p_password ~ '[[:cntrl:]]' THEN
		RAISE EXCEPTION 'proxyauth: the password contains control characters'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
END
$$;

-- The id of user p_name, or raises "no user".
CREATE OR REPLACE FUNCTION proxyauth.user_id(p_name text)
RETURNS bigint LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid bigint;
BEGIN
	SELECT u.id INTO uid FROM proxyauth.users u WHERE u.username = p_name;
	IF uid IS NULL THEN
		RAISE EXCEPTION 'proxyauth: no user %', quote_literal(coalesce(p_name, 'NULL'))
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN uid;
END
$$;

CREATE OR REPLACE FUNCTION proxyauth.audit_write(p_action text, p_name text, p_detail text)
RETURNS void LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO proxyauth.audit (session_user_name, action, target_user, detail)
	VALUES (SESSION_USER, p_action, p_name, p_detail);
$$;

-- ---- the admin functions --------------------------------------------------

CREATE OR REPLACE FUNCTION proxyauth.add_user(p_name text, p_password text)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	look_alike boolean := false;
BEGIN
	IF p_name IS NULL OR p_name = '' THEN
		RAISE EXCEPTION 'proxyauth: the user name is empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- A name that reads as another, which proxyauthd refuses at login
	-- (pa_name_unsafe() in lib/fold.c): a run of blanks, and in a UTF8
	-- database a Unicode blank other than the space or an invisible
	-- (default-ignorable) code point (the same sets as libunistring's),
	-- a joiner at an end or next to an ASCII character (proxyauthd applies
	-- RFC 5892's CONTEXTJ rules), or a combining mark of the generic
	-- blocks first or after a blank (proxyauthd: every mark).  Said here
	-- rather than at the first failed login.
	IF p_name ~ ' {2}' THEN
		look_alike := true;
	ELSIF pg_catalog.getdatabaseencoding() = 'UTF8' THEN
		look_alike := p_name ~ (E'[\\u0085\\u00a0\\u1680\\u2000-\\u200b\\u200e\\u200f'
			'\\u2028-\\u202f\\u205f-\\u206f\\u3000\\u00ad\\u034f\\u061c\\u115f\\u1160'
			'\\u17b4\\u17b5\\u180b-\\u180f\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0'
			'\\ufff0-\\ufff8\\U0001bca0-\\U0001bca3\\U0001d173-\\U0001d17a'
			'\\U000e0000-\\U000e0fff]|^[\\u200c\\u200d]|[\\u200c\\u200d]$'
			'|[\\u200c\\u200d][\\u0020-\\u007e]|[\\u0020-\\u007e][\\u200c\\u200d]'
			'|(^| )[\\u0300-\\u036f\\u0483-\\u0489\\u1ab0-\\u1aff\\u1dc0-\\u1dff'
			'\\u20d0-\\u20ff\\ufe20-\\ufe2f]');
	END IF;
	IF look_alike THEN
		RAISE EXCEPTION 'proxyauth: % reads as another name (a run of blanks, a Unicode blank or an invisible character); proxyauthd would refuse it',
			quote_literal(p_name) USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM proxyauth.check_password(p_password);
	IF EXISTS (SELECT FROM proxyauth.users u
		   WHERE proxyauth.name_key(u.username) = proxyauth.name_key(p_name)) THEN
		RAISE EXCEPTION 'proxyauth: user % already exists', quote_literal(p_name)
			USING ERRCODE = 'unique_violation';
	END IF;
	BEGIN
		INSERT INTO proxyauth.users (username, password_hash)
		VALUES (p_name, proxyauth.hash_password(p_password));
	EXCEPTION
	WHEN unique_violation THEN
		RAISE EXCEPTION 'proxyauth: user % already exists', quote_literal(p_name)
			USING ERRCODE = 'unique_violation';
	WHEN check_violation THEN
		RAISE EXCEPTION 'proxyauth: % is not a valid user name (at most 256 bytes, no '':'', no control characters, no surrounding blanks)',
			quote_literal(p_name) USING ERRCODE = 'invalid_parameter_value';
	END;
	PERFORM proxyauth.audit_write('add_user', p_name, NULL);
END
$$;

CREATE OR REPLACE FUNCTION proxyauth.set_password(p_name text, p_password text)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid bigint := proxyauth.user_id(p_name);
BEGIN
	PERFORM proxyauth.check_password(p_password);
	UPDATE proxyauth.users SET password_hash = proxyauth.hash_password(p_password)
		WHERE id = uid;
	PERFORM proxyauth.audit_write('set_password', p_name, NULL);
END
$$;

CREATE OR REPLACE FUNCTION proxyauth.disable_user(p_name text)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid bigint := proxyauth.user_id(p_name);
BEGIN
	UPDATE proxyauth.users SET disabled = true WHERE id = uid;
	PERFORM proxyauth.audit_write('disable_user', p_name, NULL);
END
$$;

CREATE OR REPLACE FUNCTION proxyauth.enable_user(p_name text)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid bigint := proxyauth.user_id(p_name);
BEGIN
	UPDATE proxyauth.users SET disabled = false WHERE id = uid;
	PERFORM proxyauth.audit_write('enable_user', p_name, NULL);
END
$$;

CREATE OR REPLACE FUNCTION proxyauth.delete_user(p_name text)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid bigint := proxyauth.user_id(p_name);
BEGIN
	DELETE FROM proxyauth.users WHERE id = uid;
	PERFORM proxyauth.audit_write('delete_user', p_name, NULL);
END
$$;

-- NULL: never expires.
CREATE OR REPLACE FUNCTION proxyauth.set_expiry(p_name text, p_expires_at timestamptz)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid bigint := proxyauth.user_id(p_name);
BEGIN
	UPDATE proxyauth.users SET expires_at = p_expires_at WHERE id = uid;
	PERFORM proxyauth.audit_write('set_expiry', p_name,
		coalesce(to_char(p_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'never'));
END
$$;

-- Makes the group when it does not exist yet.
CREATE OR REPLACE FUNCTION proxyauth.grant_group(p_name text, p_group text)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid bigint := proxyauth.user_id(p_name);
	gid bigint;
BEGIN
	IF p_group IS NULL OR p_group = '' THEN
		RAISE EXCEPTION 'proxyauth: the group name is empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	BEGIN
		INSERT INTO proxyauth.groups (name) VALUES (p_group) ON CONFLICT (name) DO NOTHING;
	EXCEPTION WHEN check_violation THEN
		RAISE EXCEPTION 'proxyauth: % is not a valid group name (at most 256 bytes, no '','', no control characters, no surrounding blanks)',
			quote_literal(p_group) USING ERRCODE = 'invalid_parameter_value';
	END;
	SELECT g.id INTO STRICT gid FROM proxyauth.groups g WHERE g.name = p_group;
	INSERT INTO proxyauth.memberships (user_id, group_id) VALUES (uid, gid)
		ON CONFLICT DO NOTHING;
	PERFORM proxyauth.audit_write('grant_group', p_name, p_group);
END
$$;

-- Not a member: a notice, no error.
CREATE OR REPLACE FUNCTION proxyauth.revoke_group(p_name text, p_group text)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	uid bigint := proxyauth.user_id(p_name);
BEGIN
	DELETE FROM proxyauth.memberships m USING proxyauth.groups g
		WHERE m.user_id = uid AND m.group_id = g.id AND g.name = p_group;
	IF NOT FOUND THEN
		RAISE NOTICE 'proxyauth: user % is not in group %', quote_literal(p_name),
			quote_literal(coalesce(p_group, 'NULL'));
	END IF;
	PERFORM proxyauth.audit_write('revoke_group', p_name, p_group);
END
$$;

-- Every user without the hash, for admins who may not read the tables.
CREATE OR REPLACE FUNCTION proxyauth.list_users()
RETURNS TABLE (username text, disabled boolean, expires_at timestamptz, groups text[],
	       created_at timestamptz, updated_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT u.username, u.disabled, u.expires_at,
	       ARRAY(SELECT g.name FROM proxyauth.memberships m
			JOIN proxyauth.groups g ON g.id = m.group_id
			WHERE m.user_id = u.id ORDER BY g.name),
	       u.created_at, u.updated_at
	FROM proxyauth.users u ORDER BY u.username;
$$;

-- ---- triggers --------------------------------------------------------------

CREATE OR REPLACE FUNCTION proxyauth.touch()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	NEW.updated_at := now();
	RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION proxyauth.notify_user()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		PERFORM pg_notify('proxyauth_changed', OLD.username);
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') AND (TG_OP = 'INSERT' OR NEW.username <> OLD.username) THEN
		PERFORM pg_notify('proxyauth_changed', NEW.username);
	END IF;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION proxyauth.notify_membership()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ids bigint[] := '{}';
	r record;
BEGIN
	IF TG_OP <> 'INSERT' THEN
		ids := ids || OLD.user_id;
	END IF;
	IF TG_OP <> 'DELETE' THEN
		ids := ids || NEW.user_id;
	END IF;
	-- A row deleted with its user finds no name: the user's own
	-- trigger announced it.
	FOR r IN SELECT u.username FROM proxyauth.users u WHERE u.id = ANY (ids) LOOP
		PERFORM pg_notify('proxyauth_changed', r.username);
	END LOOP;
	RETURN NULL;
END
$$;

-- A renamed or deleted group changes every member's groups.
CREATE OR REPLACE FUNCTION proxyauth.notify_group()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT u.username FROM proxyauth.users u
		JOIN proxyauth.memberships m ON m.user_id = u.id
		WHERE m.group_id = OLD.id
	LOOP
		PERFORM pg_notify('proxyauth_changed', r.username);
	END LOOP;
	RETURN NULL;
END
$$;

-- TRUNCATE names nobody: an empty payload drops everything.
CREATE OR REPLACE FUNCTION proxyauth.notify_all()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM pg_notify('proxyauth_changed', '');
	RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER users_touch BEFORE UPDATE ON proxyauth.users
	FOR EACH ROW EXECUTE FUNCTION proxyauth.touch();
CREATE OR REPLACE TRIGGER groups_touch BEFORE UPDATE ON proxyauth.groups
	FOR EACH ROW EXECUTE FUNCTION proxyauth.touch();
CREATE OR REPLACE TRIGGER memberships_touch BEFORE UPDATE ON proxyauth.memberships
	FOR EACH ROW EXECUTE FUNCTION proxyauth.touch();
CREATE OR REPLACE TRIGGER users_notify AFTER INSERT OR UPDATE OR DELETE ON proxyauth.users
	FOR EACH ROW EXECUTE FUNCTION proxyauth.notify_user();
CREATE OR REPLACE TRIGGER memberships_notify AFTER INSERT OR UPDATE OR DELETE ON proxyauth.memberships
	FOR EACH ROW EXECUTE FUNCTION proxyauth.notify_membership();
CREATE OR REPLACE TRIGGER groups_notify AFTER UPDATE OR DELETE ON proxyauth.groups
	FOR EACH ROW EXECUTE FUNCTION proxyauth.notify_group();
CREATE OR REPLACE TRIGGER users_notify_truncate AFTER TRUNCATE ON proxyauth.users
	FOR EACH STATEMENT EXECUTE FUNCTION proxyauth.notify_all();
CREATE OR REPLACE TRIGGER memberships_notify_truncate AFTER TRUNCATE ON proxyauth.memberships
	FOR EACH STATEMENT EXECUTE FUNCTION proxyauth.notify_all();
CREATE OR REPLACE TRIGGER groups_notify_truncate AFTER TRUNCATE ON proxyauth.groups
	FOR EACH STATEMENT EXECUTE FUNCTION proxyauth.notify_all();

-- ---- who may call what -----------------------------------------------------

-- New functions are executable by PUBLIC: take that back from all of them,
-- then give the admin functions to proxyauth_admin alone.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA proxyauth FROM PUBLIC, proxyauth_admin, proxyauth_reader;
GRANT EXECUTE ON FUNCTION
	proxyauth.add_user(text, text),
	proxyauth.set_password(text, text),
	proxyauth.disable_user(text),
	proxyauth.enable_user(text),
	proxyauth.delete_user(text),
	proxyauth.set_expiry(text, timestamptz),
	proxyauth.grant_group(text, text),
	proxyauth.revoke_group(text, text),
	proxyauth.list_users()
	TO proxyauth_admin;

COMMIT;

-- add_user and set_password take the password as an argument: an error
-- inside them would make the server log the calling statement, and with it
-- the password in clear (log_min_error_statement).  Only a superuser may
-- set that per function, so a schema applied by a non-superuser owner
-- keeps working without it (deploy/sql/README.md).
DO $$
BEGIN
	IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		ALTER FUNCTION proxyauth.add_user(text, text) SET log_min_error_statement = panic;
		ALTER FUNCTION proxyauth.set_password(text, text) SET log_min_error_statement = panic;
	END IF;
END
$$;
