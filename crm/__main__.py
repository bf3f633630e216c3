from crm.cli import main

main()
