from cloudward.cli import main

main()
