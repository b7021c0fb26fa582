// Package state keeps what racklift knows about each node across restarts of serve: its
// lifecycle phase, attempts, timestamps, recent events, last agent report and hashed agent
// token, plus an append-only event log with sequence numbers.
//
// Store is deliberately narrow (get, list, one atomic read-modify-write, read the log) so
// a distributed backend can replace the embedded bbolt default later.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/racklift/racklift/pkg/sanitize"
)

// SchemaVersion is the layout this racklift reads and writes. Bump it on any change a
// previous version would misread.
const SchemaVersion = 1

// RecentEvents is how many events each node record keeps for a quick status view. The full
// history stays in the event log.
const RecentEvents = 32

// The bounds the store enforces on every write, whatever the caller passes (docs/state.md):
// text from the network must not grow the state without limit.
const (
	// MaxDetail is the most bytes of an event's detail kept; longer ones are cut with a note.
	MaxDetail = sanitize.Detail
	// MaxReason is the most bytes of a node's failure reason kept.
	MaxReason = sanitize.Reason
	// MaxReport is the largest agent report a node record keeps (only the latest one).
	MaxReport = 1 << 20
	// MaxRecord is the largest node record written: Update fails past it, naming the node.
	MaxRecord = MaxReport + 256<<10
	// DefaultMaxEvents is how many events the log keeps; older ones are dropped.
	DefaultMaxEvents = 100_000
	// DefaultMaxEventAge is how long the log keeps an event.
	DefaultMaxEventAge = 30 * 24 * time.Hour
	// compactBatch bounds how many old events one write drops, so a write stays short
	// even when retention was just lowered; later writes catch up.
	compactBatch = 256
)

// Retention says what the event log keeps and what it has dropped.
type Retention struct {
	MaxEvents int           `json:"max_events"`
	MaxAge    time.Duration `json:"max_age_ns"`
	// DroppedThrough is the newest sequence number dropped (0: none dropped): events up
	// to it are gone from the log.
	DroppedThrough uint64 `json:"dropped_through,omitempty"`
}

// Errors callers match with errors.Is.
var (
	ErrNotFound       = errors.New("no such node in the state")
	ErrSchemaMismatch = errors.New("state schema version mismatch")
	ErrLocked         = errors.New("state is locked by another process")
	ErrNoState        = errors.New("no state yet")
)

// Store is the state backend. Implementations are safe for concurrent use.
type Store interface {
	// Get returns one node's record, or ErrNotFound.
	Get(name string) (Node, error)
	// List returns every node's record, sorted by name.
	List() ([]Node, error)
	// Update atomically reads the node (a fresh record with only Name set if absent), lets
	// fn change it and return events to log, then writes both durably. If fn returns an
	// error nothing is written. It returns the logged events with their sequence numbers.
	Update(name string, fn func(n *Node) ([]Event, error)) ([]Event, error)
	// Events reads the log in sequence order.
	Events(q Query) ([]Event, error)
	// LastSeq is the newest event's sequence number (0: none).
	LastSeq() (uint64, error)
	// Retention is the log's limits and the newest sequence number it dropped.
	Retention() (Retention, error)
	// Check runs the consistency check over the whole store (ErrDamaged if it fails).
	Check() error
	// WriteBackup writes a consistent snapshot of the store to w.
	WriteBackup(w io.Writer) (int64, error)
	// Wait returns once the log holds an event with a sequence number above after, or
	// when ctx ends.
	Wait(ctx context.Context, after uint64) error
	Close() error
}

// Query selects events from the log: those after a sequence number, of one node or all
// (Node empty), at most Limit (0: no limit).
type Query struct {
	Node  string
	After uint64
	Limit int
}

// Event is one entry of the log. Seq is assigned by the store: strictly increasing, never
// reused, so a consumer that remembers the last Seq it handled resumes without loss or
// duplicates.
type Event struct {
	Seq    uint64    `json:"seq"`
	Node   string    `json:"node"`
	Kind   string    `json:"kind"`
	Time   time.Time `json:"time"`
	Detail string    `json:"detail,omitempty"`
	Phase  string    `json:"phase,omitempty"` // the node's phase after the event
}

// Node is one node's persisted record.
type Node struct {
	Name   string `json:"name"`
	Phase  string `json:"phase"`            // lifecycle phase; empty: never seen
	Reason string `json:"reason,omitempty"` // why the node failed, in plain words

	// Run counts `up` runs of this node; Attempt counts attempts within the run (1-based
	// once started). The pair names one attempt for life.
	Run     int  `json:"run"`
	Attempt int  `json:"attempt"`
	Force   bool `json:"force,omitempty"` // the run was started with --force
	// Reprovision: the run was started with --reprovision and deploys again over the disk.
	Reprovision bool `json:"reprovision,omitempty"`

	EnteredAt time.Time `json:"entered_at,omitzero"` // when the node entered Phase
	UpdatedAt time.Time `json:"updated_at,omitzero"` // last transition

	Power PowerRecord `json:"power,omitzero"`

	Recent []Event `json:"recent,omitempty"` // last RecentEvents events, oldest first

	Report   json.RawMessage `json:"report,omitempty"` // the agent's last report, as sent
	ReportAt time.Time       `json:"report_at,omitzero"`

	// Installed: the node's OS is on its disk (reported over the agent API with the
	// node's certificate); serve answers its network boot with the local disk until
	// `provision up --reprovision` clears it.
	Installed   bool      `json:"installed,omitempty"`
	InstalledAt time.Time `json:"installed_at,omitzero"`

	// Token is the node's one-time bootstrap secret (hash only); Identity the client
	// certificate it was exchanged for.
	Token    *Token    `json:"token,omitempty"`
	Identity *Identity `json:"identity,omitempty"`

	Deployed *Deployed `json:"deployed,omitempty"` // the verified image on the disk; nil: none
}

// PowerRecord is the last BMC power action, written in two steps: IssuedAt before the BMC
// call, DoneAt after it. IssuedAt set with DoneAt zero means serve died during the call and
// the cycle may or may not have happened; it must not be issued again for the same attempt.
type PowerRecord struct {
	Run      int       `json:"run"`
	Attempt  int       `json:"attempt"`
	IssuedAt time.Time `json:"issued_at,omitzero"`
	DoneAt   time.Time `json:"done_at,omitzero"`
	Err      string    `json:"error,omitempty"`
}

// IssuedFor reports whether a power action was recorded for the given attempt.
func (p PowerRecord) IssuedFor(run, attempt int) bool {
	return !p.IssuedAt.IsZero() && p.Run == run && p.Attempt == attempt
}

// Token is a node's one-time bootstrap secret, stored only as a hash: minted when the
// node enters pxe in a run, handed out in its boot script, and exchanged once for the
// node's client certificate.
type Token struct {
	Hash      []byte    `json:"hash"` // SHA-256 of the secret
	MAC       string    `json:"mac"`  // the PXE MAC it was handed to
	Run       int       `json:"run"`
	Attempt   int       `json:"attempt"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// BoundIP is the address the boot script was asked from when serve's DHCP reserved
	// it for the node: the exchange must come from it too. Empty in proxy and off modes.
	BoundIP string `json:"bound_ip,omitempty"`
	// UsedAt and UsedFrom: when and from where it was exchanged; a used secret is
	// refused (and the replay recorded).
	UsedAt   time.Time `json:"used_at,omitzero"`
	UsedFrom string    `json:"used_from,omitempty"`
}

// Identity is the node's client certificate as serve issued it: every agent call
// presents it, and serve accepts it only while its serial is this one, it belongs to
// the node's current run and is not revoked.
type Identity struct {
	Serial    string    `json:"serial"` // hex
	Run       int       `json:"run"`
	IssuedAt  time.Time `json:"issued_at"`
	NotAfter  time.Time `json:"not_after"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Revoked   string    `json:"revoked,omitempty"` // why, in plain words
}
