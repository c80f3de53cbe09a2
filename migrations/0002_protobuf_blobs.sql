-- Snapshot blobs hold the snapshot's canonical protobuf encoding, the bytes the agent's content
-- hash digests (podwire_node_state::wire::canonical_encoding), instead of canonical JSON: one
-- definition of the hash for agent and server. Blobs stored before keep their JSON and say so.

ALTER TABLE snapshot_blobs
    ADD COLUMN encoding text NOT NULL DEFAULT 'json' CHECK (encoding IN ('json', 'protobuf'));
-- Existing rows are JSON; every new row must say what it holds.
ALTER TABLE snapshot_blobs ALTER COLUMN encoding DROP DEFAULT;

COMMENT ON COLUMN snapshot_blobs.encoding IS 'What content holds once decompressed: protobuf (the canonical encoding of podwire.agent.v1.NodeSnapshot) or json (canonical JSON of the model, rows stored before migration 0002).';
COMMENT ON COLUMN snapshot_blobs.hash IS 'SHA-256 of the decompressed content: the content hash agents send (for json rows, of the canonical JSON).';
COMMENT ON COLUMN snapshot_blobs.raw_bytes IS 'Size of the content before compression.';
COMMENT ON COLUMN snapshot_blobs.content IS 'The canonical encoding of the snapshot (collection time and duration zeroed), compressed.';
COMMENT ON COLUMN nodes.last_snapshot_hash IS 'Content hash of the latest stored snapshot; an equal hash is not stored again, and a heartbeat naming it keeps the node alive.';
