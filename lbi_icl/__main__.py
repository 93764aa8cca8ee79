from lbi_icl.cli import entry

entry()
