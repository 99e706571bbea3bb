using Soco.Cli;
return await SocoCli.RunAsync(args);
