import { IsEmail, IsNotEmpty } from 'class-validator';

export class WelcomeEmail {
  @IsEmail()
  email!: string;

  @IsNotEmpty()
  name!: string;
}
