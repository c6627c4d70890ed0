from tillpost.cli import main

main()
