/*
 * pickle_ops.h - pickle's opcodes, for the encoder (pickle_dump.c) and the
 * decoder (pickle_load.c).  Not installed.
 *
 * One byte each, as CPython's Lib/pickle.py names them (the P_ prefix
 * keeps them out of everybody's way).  Marked by the protocol that
 * introduced them; the ones mproc never writes and refuses to read are
 * listed too, so that the decoder's table names every byte it knows.
 */
#ifndef MPROC_LIB_PICKLE_OPS_H
#define MPROC_LIB_PICKLE_OPS_H

/* The highest protocol CPython reads (3.8 to 3.13). */
#define MP__PICKLE_HIGHEST 5

enum {
	/* protocol 0 (text; refused by the decoder: -MP_EPICKLE) */
	P_MARK = '(',            /* push a mark (also protocol 1 and up) */
	P_STOP = '.',            /* end of the pickle */
	P_POP = '0',             /* discard the top of the stack */
	P_DUP = '2',             /* duplicate the top of the stack */
	P_FLOAT = 'F',           /* text float */
	P_INT = 'I',             /* text int; "01"/"00" are True/False */
	P_LONG = 'L',            /* text long */
	P_NONE = 'N',
	P_PERSID = 'P',          /* persistent id, text (refused) */
	P_REDUCE = 'R',          /* callable(*args) */
	P_STRING = 'S',          /* text quoted str */
	P_UNICODE = 'V',         /* raw-unicode-escape str */
	P_APPEND = 'a',
	P_BUILD = 'b',           /* obj.__setstate__(state) */
	P_GLOBAL = 'c',          /* module\nname\n */
	P_DICT = 'd',            /* dict from mark */
	P_GET = 'g',             /* memo get, text index */
	P_INST = 'i',            /* old-style instance (refused) */
	P_LIST = 'l',            /* list from mark */
	P_PUT = 'p',             /* memo put, text index */
	P_SETITEM = 's',
	P_TUPLE = 't',           /* tuple from mark */

	/* protocol 1 (binary) */
	P_POP_MARK = '1',        /* discard down to and including the mark */
	P_BINFLOAT = 'G',        /* 8-byte big-endian double */
	P_BININT = 'J',          /* 4-byte little-endian signed */
	P_BININT1 = 'K',         /* 1-byte unsigned */
	P_BININT2 = 'M',         /* 2-byte little-endian unsigned */
	P_BINPERSID = 'Q',       /* persistent id from the stack (refused) */
	P_BINSTRING = 'T',       /* 4-byte length, py2 str */
	P_SHORT_BINSTRING = 'U', /* 1-byte length, py2 str */
	P_BINUNICODE = 'X',      /* 4-byte length, UTF-8 */
	P_EMPTY_DICT = '}',
	P_APPENDS = 'e',         /* extend the list below the mark */
	P_BINGET = 'h',          /* 1-byte memo index */
	P_LONG_BINGET = 'j',     /* 4-byte memo index */
	P_EMPTY_LIST = ']',
	P_OBJ = 'o',             /* class and args from the mark (refused) */
	P_BINPUT = 'q',          /* 1-byte memo index */
	P_LONG_BINPUT = 'r',     /* 4-byte memo index */
	P_SETITEMS = 'u',        /* pairs from the mark */
	P_EMPTY_TUPLE = ')',

	/* protocol 2 */
	P_PROTO = 0x80,          /* 1-byte protocol number */
	P_NEWOBJ = 0x81,         /* cls.__new__(cls, *args) */
	P_EXT1 = 0x82,           /* copyreg extension codes (refused) */
	P_EXT2 = 0x83,
	P_EXT4 = 0x84,
	P_TUPLE1 = 0x85,
	P_TUPLE2 = 0x86,
	P_TUPLE3 = 0x87,
	P_NEWTRUE = 0x88,
	P_NEWFALSE = 0x89,
	P_LONG1 = 0x8a,          /* 1-byte length, little-endian two's compl. */
	P_LONG4 = 0x8b,          /* 4-byte length */

	/* protocol 3 */
	P_BINBYTES = 'B',        /* 4-byte length */
	P_SHORT_BINBYTES = 'C',  /* 1-byte length */

	/* protocol 4 */
	P_SHORT_BINUNICODE = 0x8c, /* 1-byte length, UTF-8 */
	P_BINUNICODE8 = 0x8d,    /* 8-byte length */
	P_BINBYTES8 = 0x8e,      /* 8-byte length */
	P_EMPTY_SET = 0x8f,
	P_ADDITEMS = 0x90,       /* add the items above the mark to a set */
	P_FROZENSET = 0x91,      /* frozenset from mark */
	P_NEWOBJ_EX = 0x92,      /* cls.__new__(cls, *args, **kwargs) */
	P_STACK_GLOBAL = 0x93,   /* module and name from the stack */
	P_MEMOIZE = 0x94,        /* memo[len(memo)] = top */
	P_FRAME = 0x95,          /* 8-byte length of the frame that follows */

	/* protocol 5 */
	P_BYTEARRAY8 = 0x96,     /* 8-byte length */
	P_NEXT_BUFFER = 0x97,    /* out-of-band buffer (refused) */
	P_READONLY_BUFFER = 0x98,/* (refused) */
};

/* CPython's framing (protocol 4 and up): a frame is committed once it
 * holds MP__PICKLE_FRAME_TARGET bytes, and bytes, str and bytearray
 * payloads that long or longer are written outside any frame; a frame
 * shorter than MP__PICKLE_FRAME_MIN gets no FRAME opcode.  (Lib/pickle.py
 * _FRAME_SIZE_TARGET and _FRAME_SIZE_MIN; Modules/_pickle.c likewise.) */
#define MP__PICKLE_FRAME_TARGET 65536
#define MP__PICKLE_FRAME_MIN 4

#endif
