/* transfer_state.h - the states of a transfer leg and the decision letters,
 * with one name table (issue 12). The store keeps a leg's state as text
 * ("HELD", "COMMITTED", ...: the Lua scripts write and compare these
 * strings, and the store's format does not change); the C side converts it
 * to transfer_state_t where it reads the store (settlement/ledger.c) and
 * back to text only to print or log it. Decisions travel as one letter
 * (to the scripts and between engine and transport): TRANSFER_DECISION_. */
#ifndef SETTLEMENT_TRANSFER_STATE_H
#define SETTLEMENT_TRANSFER_STATE_H

#include <stddef.h>

typedef enum {
    TRANSFER_STATE_NONE = 0,  /* "": no state recorded (no leg, or not read) */
    TRANSFER_STATE_HELD,      /* source: blocks held, undecided */
    TRANSFER_STATE_PREPARED,  /* destination: credit prepared, undecided */
    TRANSFER_STATE_COMMITTED, /* either side: decided, commit */
    TRANSFER_STATE_ABORTED,   /* either side: decided, abort */
    TRANSFER_STATE_REFUSED,   /* destination: the prepare was refused */
    TRANSFER_STATE_UNKNOWN,   /* source_decide: no such leg */
    TRANSFER_STATE_INVALID,   /* the store held a text that names no state */
    TRANSFER_STATE_COUNT_
} transfer_state_t;

/* The longest state text, "COMMITTED"; texts longer than this are INVALID. */
#define TRANSFER_STATE_TEXT_MAX 9

/* The text of s as the store writes it ("HELD", ..., "" for NONE,
 * "(not a state)" for INVALID). Never NULL; a static string. s must be a
 * transfer_state_t value. */
const char *transfer_state_name(transfer_state_t s);

/* The state named by text[0..len) (exactly, case-sensitive; "" is NONE).
 * Returns 0 and sets *out; or -1, with *out = TRANSFER_STATE_INVALID, if the
 * text names no state or len > TRANSFER_STATE_TEXT_MAX. Reads at most len
 * bytes of text (no NUL needed). */
int transfer_state_parse(const char *text, size_t len, transfer_state_t *out);

/* The state named by the NUL-terminated text, TRANSFER_STATE_INVALID if none
 * (reads at most TRANSFER_STATE_TEXT_MAX + 1 bytes). For records read from
 * the store, where a bad text must be reported rather than refused. */
transfer_state_t transfer_state_from_text(const char *text);

/* 1 if s is a decision reached (COMMITTED or ABORTED), else 0. */
int transfer_state_decided(transfer_state_t s);

/* A decision as one letter, the form the scripts (ARGV) and the engine's
 * transport use. Stored in a char. */
typedef enum {
    TRANSFER_DECISION_COMMIT = 'C',
    TRANSFER_DECISION_ABORT = 'A',
    TRANSFER_DECISION_UNKNOWN = 'U', /* the peer has no record of the leg */
    TRANSFER_DECISION_MIXED = 'M',   /* a Decide's answer only: the destination recorded the
                                        decision and holds the other outcome after an
                                        operator's heuristic decision (HEURISTIC_MIXED) */
} transfer_decision_t;

/* TRANSFER_DECISION_COMMIT for COMMITTED, _ABORT for ABORTED, else _UNKNOWN. */
char transfer_decision_of(transfer_state_t s);

/* TRANSFER_STATE_COMMITTED for 'C', _ABORTED for 'A', else _NONE. */
transfer_state_t transfer_state_of_decision(char decision);

#endif
