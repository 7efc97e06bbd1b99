// dotnet run -- --Kvasir localhost:6379 --urls http://127.0.0.1:5000
Kvasir.Examples.AspNetCore.ShopApp.Build(args).Run();
