-- How many scores are stored and their bytes, kept by a trigger on scores, so that an
-- insert checks the store's limits in constant time instead of counting every row under
-- the insert lock (src/store/postgres/mod.rs). Every write to scores that changes them takes
-- the insert lock first, so the one row here is always locked after that lock and never
-- in the opposite order by two transactions.

-- No write to scores between the first count and the trigger (a replica of the build
-- before this one may still be running): they wait for this migration's commit.
LOCK TABLE scores IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE score_totals (
    one    BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    scores BIGINT NOT NULL,
    bytes  BIGINT NOT NULL
);

INSERT INTO score_totals (one, scores, bytes)
    SELECT TRUE, COUNT(*), COALESCE(SUM(bytes), 0) FROM scores;

CREATE FUNCTION score_totals_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE score_totals SET scores = scores + 1, bytes = bytes + NEW.bytes;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE score_totals SET scores = scores - 1, bytes = bytes - OLD.bytes;
    ELSE
        UPDATE score_totals SET bytes = bytes - OLD.bytes + NEW.bytes;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER score_totals_follow AFTER INSERT OR DELETE OR UPDATE OF bytes ON scores
    FOR EACH ROW EXECUTE FUNCTION score_totals_follow();
