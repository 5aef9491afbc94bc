/*
 * pickle_names.c - the closed table of globals the decoder knows.
 *
 * Sorted by module, then name, in byte order, for a binary search.  Every
 * spelling CPython 3.8-3.13 writes is here: protocol 2 goes through
 * _compat_pickle (fix_imports), which writes builtins as __builtin__,
 * exceptions as exceptions (Python 3-only OSError subclasses as
 * exceptions.OSError), queue as Queue, copyreg as copy_reg and
 * multiprocessing.context's exceptions as multiprocessing's.  Exceptions
 * come back under one canonical name each (the one protocols 3 and up
 * write), so equal exceptions compare equal whatever the protocol.
 */
#include "pickle_names.h"

#include <string.h>

struct pk_name {
	const char *module, *name;
	int fn;
	const char *canon; /* PK_EXC's type name */
};

static const struct pk_name names[] = {
	{ "Queue", "Empty", PK_EXC, "_queue.Empty" },
	{ "Queue", "Full", PK_EXC, "queue.Full" },
	{ "__builtin__", "ArithmeticError", PK_EXC, "builtins.ArithmeticError" },
	{ "__builtin__", "AssertionError", PK_EXC, "builtins.AssertionError" },
	{ "__builtin__", "AttributeError", PK_EXC, "builtins.AttributeError" },
	{ "__builtin__", "BaseException", PK_EXC, "builtins.BaseException" },
	{ "__builtin__", "BaseExceptionGroup", PK_EXC, "builtins.BaseExceptionGroup" },
	{ "__builtin__", "BlockingIOError", PK_EXC, "builtins.BlockingIOError" },
	{ "__builtin__", "BrokenPipeError", PK_EXC, "builtins.BrokenPipeError" },
	{ "__builtin__", "BufferError", PK_EXC, "builtins.BufferError" },
	{ "__builtin__", "BytesWarning", PK_EXC, "builtins.BytesWarning" },
	{ "__builtin__", "ChildProcessError", PK_EXC, "builtins.ChildProcessError" },
	{ "__builtin__", "ConnectionAbortedError", PK_EXC, "builtins.ConnectionAbortedError" },
	{ "__builtin__", "ConnectionError", PK_EXC, "builtins.ConnectionError" },
	{ "__builtin__", "ConnectionRefusedError", PK_EXC, "builtins.ConnectionRefusedError" },
	{ "__builtin__", "ConnectionResetError", PK_EXC, "builtins.ConnectionResetError" },
	{ "__builtin__", "DeprecationWarning", PK_EXC, "builtins.DeprecationWarning" },
	{ "__builtin__", "EOFError", PK_EXC, "builtins.EOFError" },
	{ "__builtin__", "EncodingWarning", PK_EXC, "builtins.EncodingWarning" },
	{ "__builtin__", "EnvironmentError", PK_EXC, "builtins.OSError" },
	{ "__builtin__", "Exception", PK_EXC, "builtins.Exception" },
	{ "__builtin__", "ExceptionGroup", PK_EXC, "builtins.ExceptionGroup" },
	{ "__builtin__", "FileExistsError", PK_EXC, "builtins.FileExistsError" },
	{ "__builtin__", "FileNotFoundError", PK_EXC, "builtins.FileNotFoundError" },
	{ "__builtin__", "FloatingPointError", PK_EXC, "builtins.FloatingPointError" },
	{ "__builtin__", "FutureWarning", PK_EXC, "builtins.FutureWarning" },
	{ "__builtin__", "GeneratorExit", PK_EXC, "builtins.GeneratorExit" },
	{ "__builtin__", "IOError", PK_EXC, "builtins.OSError" },
	{ "__builtin__", "ImportError", PK_EXC, "builtins.ImportError" },
	{ "__builtin__", "ImportWarning", PK_EXC, "builtins.ImportWarning" },
	{ "__builtin__", "IndentationError", PK_EXC, "builtins.IndentationError" },
	{ "__builtin__", "IndexError", PK_EXC, "builtins.IndexError" },
	{ "__builtin__", "InterruptedError", PK_EXC, "builtins.InterruptedError" },
	{ "__builtin__", "IsADirectoryError", PK_EXC, "builtins.IsADirectoryError" },
	{ "__builtin__", "KeyError", PK_EXC, "builtins.KeyError" },
	{ "__builtin__", "KeyboardInterrupt", PK_EXC, "builtins.KeyboardInterrupt" },
	{ "__builtin__", "LookupError", PK_EXC, "builtins.LookupError" },
	{ "__builtin__", "MemoryError", PK_EXC, "builtins.MemoryError" },
	{ "__builtin__", "ModuleNotFoundError", PK_EXC, "builtins.ModuleNotFoundError" },
	{ "__builtin__", "NameError", PK_EXC, "builtins.NameError" },
	{ "__builtin__", "NotADirectoryError", PK_EXC, "builtins.NotADirectoryError" },
	{ "__builtin__", "NotImplementedError", PK_EXC, "builtins.NotImplementedError" },
	{ "__builtin__", "OSError", PK_EXC, "builtins.OSError" },
	{ "__builtin__", "OverflowError", PK_EXC, "builtins.OverflowError" },
	{ "__builtin__", "PendingDeprecationWarning", PK_EXC, "builtins.PendingDeprecationWarning" },
	{ "__builtin__", "PermissionError", PK_EXC, "builtins.PermissionError" },
	{ "__builtin__", "ProcessLookupError", PK_EXC, "builtins.ProcessLookupError" },
	{ "__builtin__", "PythonFinalizationError", PK_EXC, "builtins.PythonFinalizationError" },
	{ "__builtin__", "RecursionError", PK_EXC, "builtins.RecursionError" },
	{ "__builtin__", "ReferenceError", PK_EXC, "builtins.ReferenceError" },
	{ "__builtin__", "ResourceWarning", PK_EXC, "builtins.ResourceWarning" },
	{ "__builtin__", "RuntimeError", PK_EXC, "builtins.RuntimeError" },
	{ "__builtin__", "RuntimeWarning", PK_EXC, "builtins.RuntimeWarning" },
	{ "__builtin__", "StopAsyncIteration", PK_EXC, "builtins.StopAsyncIteration" },
	{ "__builtin__", "StopIteration", PK_EXC, "builtins.StopIteration" },
	{ "__builtin__", "SyntaxError", PK_EXC, "builtins.SyntaxError" },
	{ "__builtin__", "SyntaxWarning", PK_EXC, "builtins.SyntaxWarning" },
	{ "__builtin__", "SystemError", PK_EXC, "builtins.SystemError" },
	{ "__builtin__", "SystemExit", PK_EXC, "builtins.SystemExit" },
	{ "__builtin__", "TabError", PK_EXC, "builtins.TabError" },
	{ "__builtin__", "TimeoutError", PK_EXC, "builtins.TimeoutError" },
	{ "__builtin__", "TypeError", PK_EXC, "builtins.TypeError" },
	{ "__builtin__", "UnboundLocalError", PK_EXC, "builtins.UnboundLocalError" },
	{ "__builtin__", "UnicodeDecodeError", PK_EXC, "builtins.UnicodeDecodeError" },
	{ "__builtin__", "UnicodeEncodeError", PK_EXC, "builtins.UnicodeEncodeError" },
	{ "__builtin__", "UnicodeError", PK_EXC, "builtins.UnicodeError" },
	{ "__builtin__", "UnicodeTranslateError", PK_EXC, "builtins.UnicodeTranslateError" },
	{ "__builtin__", "UnicodeWarning", PK_EXC, "builtins.UnicodeWarning" },
	{ "__builtin__", "UserWarning", PK_EXC, "builtins.UserWarning" },
	{ "__builtin__", "ValueError", PK_EXC, "builtins.ValueError" },
	{ "__builtin__", "Warning", PK_EXC, "builtins.Warning" },
	{ "__builtin__", "ZeroDivisionError", PK_EXC, "builtins.ZeroDivisionError" },
	{ "__builtin__", "bytearray", PK_BYTEARRAY, NULL },
	{ "__builtin__", "bytes", PK_BYTES, NULL },
	{ "__builtin__", "frozenset", PK_FROZENSET, NULL },
	{ "__builtin__", "list", PK_LIST, NULL },
	{ "__builtin__", "object", PK_OBJECT, NULL },
	{ "__builtin__", "set", PK_SET, NULL },
	{ "_codecs", "encode", PK_CODECS_ENCODE, NULL },
	{ "_queue", "Empty", PK_EXC, "_queue.Empty" },
	{ "builtins", "ArithmeticError", PK_EXC, "builtins.ArithmeticError" },
	{ "builtins", "AssertionError", PK_EXC, "builtins.AssertionError" },
	{ "builtins", "AttributeError", PK_EXC, "builtins.AttributeError" },
	{ "builtins", "BaseException", PK_EXC, "builtins.BaseException" },
	{ "builtins", "BaseExceptionGroup", PK_EXC, "builtins.BaseExceptionGroup" },
	{ "builtins", "BlockingIOError", PK_EXC, "builtins.BlockingIOError" },
	{ "builtins", "BrokenPipeError", PK_EXC, "builtins.BrokenPipeError" },
	{ "builtins", "BufferError", PK_EXC, "builtins.BufferError" },
	{ "builtins", "BytesWarning", PK_EXC, "builtins.BytesWarning" },
	{ "builtins", "ChildProcessError", PK_EXC, "builtins.ChildProcessError" },
	{ "builtins", "ConnectionAbortedError", PK_EXC, "builtins.ConnectionAbortedError" },
	{ "builtins", "ConnectionError", PK_EXC, "builtins.ConnectionError" },
	{ "builtins", "ConnectionRefusedError", PK_EXC, "builtins.ConnectionRefusedError" },
	{ "builtins", "ConnectionResetError", PK_EXC, "builtins.ConnectionResetError" },
	{ "builtins", "DeprecationWarning", PK_EXC, "builtins.DeprecationWarning" },
	{ "builtins", "EOFError", PK_EXC, "builtins.EOFError" },
	{ "builtins", "EncodingWarning", PK_EXC, "builtins.EncodingWarning" },
	{ "builtins", "EnvironmentError", PK_EXC, "builtins.OSError" },
	{ "builtins", "Exception", PK_EXC, "builtins.Exception" },
	{ "builtins", "ExceptionGroup", PK_EXC, "builtins.ExceptionGroup" },
	{ "builtins", "FileExistsError", PK_EXC, "builtins.FileExistsError" },
	{ "builtins", "FileNotFoundError", PK_EXC, "builtins.FileNotFoundError" },
	{ "builtins", "FloatingPointError", PK_EXC, "builtins.FloatingPointError" },
	{ "builtins", "FutureWarning", PK_EXC, "builtins.FutureWarning" },
	{ "builtins", "GeneratorExit", PK_EXC, "builtins.GeneratorExit" },
	{ "builtins", "IOError", PK_EXC, "builtins.OSError" },
	{ "builtins", "ImportError", PK_EXC, "builtins.ImportError" },
	{ "builtins", "ImportWarning", PK_EXC, "builtins.ImportWarning" },
	{ "builtins", "IndentationError", PK_EXC, "builtins.IndentationError" },
	{ "builtins", "IndexError", PK_EXC, "builtins.IndexError" },
	{ "builtins", "InterruptedError", PK_EXC, "builtins.InterruptedError" },
	{ "builtins", "IsADirectoryError", PK_EXC, "builtins.IsADirectoryError" },
	{ "builtins", "KeyError", PK_EXC, "builtins.KeyError" },
	{ "builtins", "KeyboardInterrupt", PK_EXC, "builtins.KeyboardInterrupt" },
	{ "builtins", "LookupError", PK_EXC, "builtins.LookupError" },
	{ "builtins", "MemoryError", PK_EXC, "builtins.MemoryError" },
	{ "builtins", "ModuleNotFoundError", PK_EXC, "builtins.ModuleNotFoundError" },
	{ "builtins", "NameError", PK_EXC, "builtins.NameError" },
	{ "builtins", "NotADirectoryError", PK_EXC, "builtins.NotADirectoryError" },
	{ "builtins", "NotImplementedError", PK_EXC, "builtins.NotImplementedError" },
	{ "builtins", "OSError", PK_EXC, "builtins.OSError" },
	{ "builtins", "OverflowError", PK_EXC, "builtins.OverflowError" },
	{ "builtins", "PendingDeprecationWarning", PK_EXC, "builtins.PendingDeprecationWarning" },
	{ "builtins", "PermissionError", PK_EXC, "builtins.PermissionError" },
	{ "builtins", "ProcessLookupError", PK_EXC, "builtins.ProcessLookupError" },
	{ "builtins", "PythonFinalizationError", PK_EXC, "builtins.PythonFinalizationError" },
	{ "builtins", "RecursionError", PK_EXC, "builtins.RecursionError" },
	{ "builtins", "ReferenceError", PK_EXC, "builtins.ReferenceError" },
	{ "builtins", "ResourceWarning", PK_EXC, "builtins.ResourceWarning" },
	{ "builtins", "RuntimeError", PK_EXC, "builtins.RuntimeError" },
	{ "builtins", "RuntimeWarning", PK_EXC, "builtins.RuntimeWarning" },
	{ "builtins", "StopAsyncIteration", PK_EXC, "builtins.StopAsyncIteration" },
	{ "builtins", "StopIteration", PK_EXC, "builtins.StopIteration" },
	{ "builtins", "SyntaxError", PK_EXC, "builtins.SyntaxError" },
	{ "builtins", "SyntaxWarning", PK_EXC, "builtins.SyntaxWarning" },
	{ "builtins", "SystemError", PK_EXC, "builtins.SystemError" },
	{ "builtins", "SystemExit", PK_EXC, "builtins.SystemExit" },
	{ "builtins", "TabError", PK_EXC, "builtins.TabError" },
	{ "builtins", "TimeoutError", PK_EXC, "builtins.TimeoutError" },
	{ "builtins", "TypeError", PK_EXC, "builtins.TypeError" },
	{ "builtins", "UnboundLocalError", PK_EXC, "builtins.UnboundLocalError" },
	{ "builtins", "UnicodeDecodeError", PK_EXC, "builtins.UnicodeDecodeError" },
	{ "builtins", "UnicodeEncodeError", PK_EXC, "builtins.UnicodeEncodeError" },
	{ "builtins", "UnicodeError", PK_EXC, "builtins.UnicodeError" },
	{ "builtins", "UnicodeTranslateError", PK_EXC, "builtins.UnicodeTranslateError" },
	{ "builtins", "UnicodeWarning", PK_EXC, "builtins.UnicodeWarning" },
	{ "builtins", "UserWarning", PK_EXC, "builtins.UserWarning" },
	{ "builtins", "ValueError", PK_EXC, "builtins.ValueError" },
	{ "builtins", "Warning", PK_EXC, "builtins.Warning" },
	{ "builtins", "ZeroDivisionError", PK_EXC, "builtins.ZeroDivisionError" },
	{ "builtins", "bytearray", PK_BYTEARRAY, NULL },
	{ "builtins", "bytes", PK_BYTES, NULL },
	{ "builtins", "frozenset", PK_FROZENSET, NULL },
	{ "builtins", "list", PK_LIST, NULL },
	{ "builtins", "object", PK_OBJECT, NULL },
	{ "builtins", "set", PK_SET, NULL },
	{ "copy_reg", "_reconstructor", PK_RECONSTRUCTOR, NULL },
	{ "copyreg", "_reconstructor", PK_RECONSTRUCTOR, NULL },
	{ "exceptions", "ArithmeticError", PK_EXC, "builtins.ArithmeticError" },
	{ "exceptions", "AssertionError", PK_EXC, "builtins.AssertionError" },
	{ "exceptions", "AttributeError", PK_EXC, "builtins.AttributeError" },
	{ "exceptions", "BaseException", PK_EXC, "builtins.BaseException" },
	{ "exceptions", "BaseExceptionGroup", PK_EXC, "builtins.BaseExceptionGroup" },
	{ "exceptions", "BlockingIOError", PK_EXC, "builtins.BlockingIOError" },
	{ "exceptions", "BrokenPipeError", PK_EXC, "builtins.BrokenPipeError" },
	{ "exceptions", "BufferError", PK_EXC, "builtins.BufferError" },
	{ "exceptions", "BytesWarning", PK_EXC, "builtins.BytesWarning" },
	{ "exceptions", "ChildProcessError", PK_EXC, "builtins.ChildProcessError" },
	{ "exceptions", "ConnectionAbortedError", PK_EXC, "builtins.ConnectionAbortedError" },
	{ "exceptions", "ConnectionError", PK_EXC, "builtins.ConnectionError" },
	{ "exceptions", "ConnectionRefusedError", PK_EXC, "builtins.ConnectionRefusedError" },
	{ "exceptions", "ConnectionResetError", PK_EXC, "builtins.ConnectionResetError" },
	{ "exceptions", "DeprecationWarning", PK_EXC, "builtins.DeprecationWarning" },
	{ "exceptions", "EOFError", PK_EXC, "builtins.EOFError" },
	{ "exceptions", "EncodingWarning", PK_EXC, "builtins.EncodingWarning" },
	{ "exceptions", "EnvironmentError", PK_EXC, "builtins.OSError" },
	{ "exceptions", "Exception", PK_EXC, "builtins.Exception" },
	{ "exceptions", "ExceptionGroup", PK_EXC, "builtins.ExceptionGroup" },
	{ "exceptions", "FileExistsError", PK_EXC, "builtins.FileExistsError" },
	{ "exceptions", "FileNotFoundError", PK_EXC, "builtins.FileNotFoundError" },
	{ "exceptions", "FloatingPointError", PK_EXC, "builtins.FloatingPointError" },
	{ "exceptions", "FutureWarning", PK_EXC, "builtins.FutureWarning" },
	{ "exceptions", "GeneratorExit", PK_EXC, "builtins.GeneratorExit" },
	{ "exceptions", "IOError", PK_EXC, "builtins.OSError" },
	{ "exceptions", "ImportError", PK_EXC, "builtins.ImportError" },
	{ "exceptions", "ImportWarning", PK_EXC, "builtins.ImportWarning" },
	{ "exceptions", "IndentationError", PK_EXC, "builtins.IndentationError" },
	{ "exceptions", "IndexError", PK_EXC, "builtins.IndexError" },
	{ "exceptions", "InterruptedError", PK_EXC, "builtins.InterruptedError" },
	{ "exceptions", "IsADirectoryError", PK_EXC, "builtins.IsADirectoryError" },
	{ "exceptions", "KeyError", PK_EXC, "builtins.KeyError" },
	{ "exceptions", "KeyboardInterrupt", PK_EXC, "builtins.KeyboardInterrupt" },
	{ "exceptions", "LookupError", PK_EXC, "builtins.LookupError" },
	{ "exceptions", "MemoryError", PK_EXC, "builtins.MemoryError" },
	{ "exceptions", "ModuleNotFoundError", PK_EXC, "builtins.ModuleNotFoundError" },
	{ "exceptions", "NameError", PK_EXC, "builtins.NameError" },
	{ "exceptions", "NotADirectoryError", PK_EXC, "builtins.NotADirectoryError" },
	{ "exceptions", "NotImplementedError", PK_EXC, "builtins.NotImplementedError" },
	{ "exceptions", "OSError", PK_EXC, "builtins.OSError" },
	{ "exceptions", "OverflowError", PK_EXC, "builtins.OverflowError" },
	{ "exceptions", "PendingDeprecationWarning", PK_EXC, "builtins.PendingDeprecationWarning" },
	{ "exceptions", "PermissionError", PK_EXC, "builtins.PermissionError" },
	{ "exceptions", "ProcessLookupError", PK_EXC, "builtins.ProcessLookupError" },
	{ "exceptions", "PythonFinalizationError", PK_EXC, "builtins.PythonFinalizationError" },
	{ "exceptions", "RecursionError", PK_EXC, "builtins.RecursionError" },
	{ "exceptions", "ReferenceError", PK_EXC, "builtins.ReferenceError" },
	{ "exceptions", "ResourceWarning", PK_EXC, "builtins.ResourceWarning" },
	{ "exceptions", "RuntimeError", PK_EXC, "builtins.RuntimeError" },
	{ "exceptions", "RuntimeWarning", PK_EXC, "builtins.RuntimeWarning" },
	{ "exceptions", "StopAsyncIteration", PK_EXC, "builtins.StopAsyncIteration" },
	{ "exceptions", "StopIteration", PK_EXC, "builtins.StopIteration" },
	{ "exceptions", "SyntaxError", PK_EXC, "builtins.SyntaxError" },
	{ "exceptions", "SyntaxWarning", PK_EXC, "builtins.SyntaxWarning" },
	{ "exceptions", "SystemError", PK_EXC, "builtins.SystemError" },
	{ "exceptions", "SystemExit", PK_EXC, "builtins.SystemExit" },
	{ "exceptions", "TabError", PK_EXC, "builtins.TabError" },
	{ "exceptions", "TimeoutError", PK_EXC, "builtins.TimeoutError" },
	{ "exceptions", "TypeError", PK_EXC, "builtins.TypeError" },
	{ "exceptions", "UnboundLocalError", PK_EXC, "builtins.UnboundLocalError" },
	{ "exceptions", "UnicodeDecodeError", PK_EXC, "builtins.UnicodeDecodeError" },
	{ "exceptions", "UnicodeEncodeError", PK_EXC, "builtins.UnicodeEncodeError" },
	{ "exceptions", "UnicodeError", PK_EXC, "builtins.UnicodeError" },
	{ "exceptions", "UnicodeTranslateError", PK_EXC, "builtins.UnicodeTranslateError" },
	{ "exceptions", "UnicodeWarning", PK_EXC, "builtins.UnicodeWarning" },
	{ "exceptions", "UserWarning", PK_EXC, "builtins.UserWarning" },
	{ "exceptions", "ValueError", PK_EXC, "builtins.ValueError" },
	{ "exceptions", "Warning", PK_EXC, "builtins.Warning" },
	{ "exceptions", "ZeroDivisionError", PK_EXC, "builtins.ZeroDivisionError" },
	{ "multiprocessing", "AuthenticationError", PK_EXC, "multiprocessing.context.AuthenticationError" },
	{ "multiprocessing", "BufferTooShort", PK_EXC, "multiprocessing.context.BufferTooShort" },
	{ "multiprocessing", "ProcessError", PK_EXC, "multiprocessing.context.ProcessError" },
	{ "multiprocessing", "TimeoutError", PK_EXC, "multiprocessing.context.TimeoutError" },
	{ "multiprocessing.context", "AuthenticationError", PK_EXC, "multiprocessing.context.AuthenticationError" },
	{ "multiprocessing.context", "BufferTooShort", PK_EXC, "multiprocessing.context.BufferTooShort" },
	{ "multiprocessing.context", "ProcessError", PK_EXC, "multiprocessing.context.ProcessError" },
	{ "multiprocessing.context", "TimeoutError", PK_EXC, "multiprocessing.context.TimeoutError" },
	{ "multiprocessing.managers", "RemoteError", PK_EXC, "multiprocessing.managers.RemoteError" },
	{ "queue", "Empty", PK_EXC, "_queue.Empty" },
	{ "queue", "Full", PK_EXC, "queue.Full" },
};

/* strcmp of a counted string with a C string, in byte order. */
static int cmp_counted(const char *s, size_t n, const char *c)
{
	size_t cn = strlen(c);
	int r = memcmp(s, c, n < cn ? n : cn);
	if (r)
		return r;
	return n < cn ? -1 : n > cn;
}

int mp__pickle_name_find(const char *module, size_t mlen, const char *name,
                         size_t nlen, const char **canon)
{
	size_t lo = 0, hi = sizeof(names) / sizeof(names[0]);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = cmp_counted(module, mlen, names[mid].module);
		if (!r)
			r = cmp_counted(name, nlen, names[mid].name);
		if (!r) {
			if (canon)
				*canon = names[mid].canon;
			return names[mid].fn;
		}
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return PK_NONE;
}

const char *mp__pickle_fn_name(int fn)
{
	switch (fn) {
	case PK_CODECS_ENCODE: return "_codecs.encode";
	case PK_BYTES: return "bytes";
	case PK_BYTEARRAY: return "bytearray";
	case PK_SET: return "set";
	case PK_FROZENSET: return "frozenset";
	case PK_LIST: return "list";
	case PK_OBJECT: return "object";
	case PK_RECONSTRUCTOR: return "copyreg._reconstructor";
	case PK_EXC: return "an exception type";
	}
	return "?";
}
