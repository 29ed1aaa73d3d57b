from envoyscope.cli import main

raise SystemExit(main())
